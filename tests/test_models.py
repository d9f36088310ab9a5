"""Model declarations: purity (no processes, files or logging in models) and registry behaviour."""
import ast
from pathlib import Path

import pytest

import simcore
from simcore.models import BUILTIN, UnknownModelError, get_model

FORBIDDEN = {"simcore.shm", "simcore.executors", "simcore.checkpoint", "simcore.results", "simcore.engine",
             "h5py", "multiprocessing", "logging", "concurrent", "threading"}
MODEL_DIR = Path(simcore.__file__).parent / "models"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "simcore" + "." * bool(node.module) + (node.module or "") if node.level else node.module
            found.add(base.replace("simcore..", "simcore."))
            found.update(f"{base}.{alias.name}".replace("simcore..", "simcore.") for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(MODEL_DIR.glob("*.py")), ids=lambda p: p.name)
def test_models_never_touch_processes_files_or_logging(path):
    imported = _imports(path)
    bad = {name for name in imported for forbidden in FORBIDDEN if name == forbidden or name.startswith(forbidden + ".")}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", BUILTIN)
def test_declared_names_follow_the_design(name):
    model = get_model(name)
    declared = {
        "pi": ({"samples"}, {"pi"}),
        "transport": ({"histories", "thickness", "scatter_ratio", "incidence", "directions", "bins"},
                      {"reflection", "transmission", "absorption"}),
        "ising": ({"dim", "L", "T", "h", "sweeps", "thermalize", "algorithm", "start"},
                  {"energy_per_site", "abs_magnetization_per_site", "binder", "specific_heat", "susceptibility"}),
        "lj": ({"cells", "density", "temperature", "cutoff", "skin", "dt", "steps", "thermalize", "thermostat",
                "tail_correction"},
               {"potential_energy_per_atom", "total_energy_per_atom", "temperature", "pressure"}),
        "nbody": ({"bodies", "preset", "dt", "t_end", "integrator", "softening"}, {"energy_error", "momentum_error"}),
    }[name]
    assert {p.name for p in model.params} >= declared[0]
    assert {r.name for r in model.results} >= declared[1]
    for param in model.params:
        assert param.doc, f"{name}.{param.name} has no doc"


def test_user_models_load_by_import_path():
    assert get_model("tests.support.faulty:MODEL").name == "faulty"
    with pytest.raises(UnknownModelError, match="cannot load"):
        get_model("tests.support.nothing:MODEL")
    with pytest.raises(UnknownModelError, match="not a simcore model"):
        get_model("tests.support.faulty:FAILING_PARTITION")
