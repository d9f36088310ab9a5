"""Root conftest: what the doctests in simcore/ need (loaded for tests/ and simcore/ alike)."""
import pytest


@pytest.fixture(autouse=True)
def _doctest_tmp_path(doctest_namespace, tmp_path):
    doctest_namespace["tmp_path"] = tmp_path
