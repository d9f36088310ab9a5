"""docs/models.md is the generator's output for the models as declared now."""
from pathlib import Path

from simcore.docs import models_markdown
from simcore.models import builtin_models

MODELS_MD = Path(__file__).resolve().parents[1] / "docs" / "models.md"


def test_models_md_is_up_to_date():
    assert MODELS_MD.read_text(encoding="utf-8") == models_markdown(), \
        "docs/models.md is out of date: run 'simcore models --markdown > docs/models.md'"


def test_models_md_lists_every_parameter_result_and_reference():
    text = MODELS_MD.read_text(encoding="utf-8")
    for model in builtin_models():
        assert f"## {model.name}\n" in text
        section = text.split(f"## {model.name}\n", 1)[1].split("\n## ", 1)[0].replace("\\", "")  # unescaped
        for name in [p.name for p in model.params] + [r.name for r in model.results]:
            assert f"| `{name}` |" in section, (model.name, name)
        for reference in model.references:
            assert reference in section, (model.name, reference)
    assert "| `L` | `64` | in [2, 65536] | sites |" in text  # ising's lattice size, as declared


def test_markdown_flag_prints_the_page(cli):
    done = cli("models", "--markdown")
    assert done.returncode == 0, done.stderr
    assert done.stdout == MODELS_MD.read_text(encoding="utf-8")
