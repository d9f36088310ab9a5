"""Root conftest (loaded for tests/ and simcore/ alike): doctest fixtures, and --benchmark-only.

``pyproject.toml`` disables the benchmarks by default (``--benchmark-disable``
in addopts: the default run times nothing and runs each body once as a smoke
test).  Asking for ``--benchmark-only`` asks for the benchmarks, so it turns
them back on: ``pytest tests/benchmarks --benchmark-only`` measures.
"""
import pytest


def pytest_configure(config):
    if config.getoption("benchmark_only", default=False):
        config.option.benchmark_disable = False


@pytest.fixture(autouse=True)
def _doctest_tmp_path(doctest_namespace, tmp_path):
    doctest_namespace["tmp_path"] = tmp_path
