"""``simcore plot``: a PNG for the output of every model and of a sweep, with the panels the file holds."""
import numpy as np
import pytest

import simcore
from simcore.plot import figure

from .conftest import assert_refused

matplotlib_image = pytest.importorskip("matplotlib.image")

#: model -> (parameters of a run of a second or less, panels: series columns + results, counted by hand)
RUNS = {
    "pi": ({"samples": 100_000}, 1),                                   # pi (one partition: its value stated)
    "transport": ({"histories": 5_000, "bins": 10}, 1 + 1),            # collision density; R, T, A stated
    "ising": ({"L": 8, "sweeps": 200, "thermalize": 20}, 2 + 5),       # E, M per sweep; 5 results
    "lj": ({"cells": 4, "steps": 40}, 4),                              # thermo T, PE, E, P with their results
    "nbody": ({"preset": "kepler", "dt": 0.05, "t_end": 1.0}, 1 + 1),  # energy; the 3 drift errors stated
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Results files of every model and of a 2 x 3 ising sweep, made in this process (serial executor)."""
    where = tmp_path_factory.mktemp("plot")
    files = {model: simcore.run(model, executor="serial", out=str(where / f"{model}.h5"), **params).path
             for model, (params, _) in RUNS.items()}
    files["checkpoint"] = files["pi"].with_name("pi.h5.ckpt") / "checkpoint.h5"  # the final one the run keeps
    files["sweep"] = simcore.sweep("ising", {"L": [4, 8], "T": [2.0, 2.5, 3.0]}, sweeps=100, thermalize=10,
                                   executor="serial", out=str(where / "sweep.h5")).path
    return files


def _assert_is_a_drawing(png):
    """The PNG decodes to an image of reasonable size that is not one flat colour."""
    pixels = matplotlib_image.imread(png)
    assert pixels.shape[0] >= 300 and pixels.shape[1] >= 400, pixels.shape
    assert float(np.std(pixels[..., :3])) > 0.05


@pytest.mark.parametrize("model", [*RUNS, "sweep"])
def test_plot_writes_a_png_with_one_panel_per_series_column_and_result(cli, outputs, model):
    done = cli("plot", str(outputs[model]), "--out", f"{model}.png")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {model}.png\n" and done.stderr == ""
    _assert_is_a_drawing(cli.cwd / f"{model}.png")
    expected = RUNS[model][1] if model in RUNS else 5  # a sweep of ising: one panel per result
    assert len(figure(simcore.open_results(outputs[model])).axes) == expected


def test_sweep_panel_draws_one_line_per_other_swept_value_against_the_longest_axis(outputs):
    fig = figure(simcore.open_results(outputs["sweep"]), names=["binder"])
    (ax,) = fig.axes
    assert ax.get_xlabel() == "T [J/k_B]" and ax.get_ylabel() == "U4 = 1 - <m^4> / (3 <m^2>^2)"  # the description
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["Onsager Tc = 2.26919", "L = 4", "L = 8"]
    transposed = figure(simcore.open_results(outputs["sweep"]), names=["energy_per_site"], x="L")
    assert transposed.axes[0].get_xlabel() == "L [sites]" and transposed.axes[0].get_ylabel() == "<E>/N [J]"
    assert len(transposed.axes[0].get_legend().get_texts()) == 3  # T = 2, 2.5, 3


def test_series_panels_carry_their_axis_labels_and_units(outputs):
    lj = figure(simcore.open_results(outputs["lj"]))
    assert [ax.get_ylabel() for ax in lj.axes[:4]] == [
        "temperature [epsilon/k_B]", "potential_energy_per_atom [epsilon]", "total_energy_per_atom [epsilon]",
        "pressure [epsilon/sigma^3]"]
    assert lj.axes[0].get_xlabel() == "step [steps]"
    transport = figure(simcore.open_results(outputs["transport"]), names=["collision_density"]).axes[0]
    assert transport.get_xlabel() == "depth [mean free paths]"
    assert transport.get_ylabel().replace("\n", " ") == \
        "collision_density [collisions per source particle per mean free path]"  # wrapped to fit the panel


def test_default_png_sits_beside_the_results_file(cli, outputs):
    target = cli.cwd / "pi.h5"
    target.write_bytes(outputs["pi"].read_bytes())
    done = cli("plot", "pi.h5")
    assert done.returncode == 0, done.stderr
    _assert_is_a_drawing(cli.cwd / "pi.png")


@pytest.mark.parametrize("args, needle", [
    (["missing.h5"], "'missing.h5' does not exist"),
    (["notes.txt"], "cannot be read as simcore results"),
    (["{pi}", "--result", "nope"], "--result nope is not in"),
    (["{pi}", "--x", "samples"], "--x applies to sweeps only"),
    (["{sweep}", "--x", "h"], "--x must be one of the swept parameters: L, T (got 'h')"),
    (["{pi}", "--out", "no/such/dir/p.png"], "cannot be written"),
    (["{checkpoint}"], "is a checkpoint, not results"),
])
def test_bad_input_exits_2_with_one_line(cli, outputs, args, needle):
    (cli.cwd / "notes.txt").write_text("not hdf5\n")
    done = cli("plot", *(arg.format(**{k: str(v) for k, v in outputs.items()}) for arg in args))
    assert_refused(done, needle)
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_without_matplotlib_plot_exits_2_saying_how_to_install_it(cli, outputs, tmp_path):
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    cli.env["PYTHONPATH"] = f"{blocker.parent}:{cli.env['PYTHONPATH']}"
    done = cli("plot", str(outputs["pi"]), "--out", "p.png")
    assert_refused(done, "pip install 'simcore[plot]'")
    assert not (cli.cwd / "p.png").exists()


def _points_drawn(ax) -> int:
    """Data points drawn on ``ax``: errorbar lines, sample dots and series lines (not reference or mean lines)."""
    lines = [container.lines[0] for container in ax.containers] or [
        line for line in ax.lines if line.get_label() in ("samples", "_series")]
    for line in lines:
        assert np.isfinite(np.asarray(line.get_xdata(), dtype=float)).all()  # each point sits on the axis
    return sum(len(line.get_xdata()) for line in lines)


def test_every_point_in_the_file_is_drawn_inf_included(tmp_path):
    sweep = simcore.sweep("transport", {"thickness": [0.5, 1.0, float("inf")]}, histories=2_000, executor="serial",
                          out=str(tmp_path / "half.h5"))
    fig = figure(sweep)
    assert [_points_drawn(ax) for ax in fig.axes] == [3, 3, 3]  # the half-space too, at a tick labelled inf
    assert all(ax.get_xticklabels()[-1].get_text() == "inf" for ax in fig.axes)


def test_runs_draw_each_stored_value_once(outputs):
    for model in ("transport", "ising", "lj"):
        res = simcore.open_results(outputs[model])
        drawn = sum(_points_drawn(ax) for ax in figure(res).axes)
        series = sum(len(res.series(name)) * (res.series(name).shape[1] if res.series(name).ndim == 2 else 1)
                     for name in res.series_data if not name.endswith("_stderr") and name not in
                     {str(a.get("axis")) for a in res.series_attrs.values()})
        columns = {c for a in res.series_attrs.values() for c in a.get("columns", [])}
        drawn_as_dots = [name for name in res.names if name not in columns and len(res.per_partition[name]) > 1]
        stated = [name for name in res.names if name not in columns and len(res.per_partition[name]) == 1]
        assert drawn == series + sum(len(res.per_partition[name]) for name in drawn_as_dots), model
        texts = "".join(text.get_text() for ax in figure(res).axes for text in ax.texts)
        assert all(f"{name} = " in texts for name in stated), model


def test_titles_name_the_model_and_its_changed_parameters_and_reference_lines_are_drawn(outputs):
    fig = figure(simcore.open_results(outputs["ising"]))
    assert fig.get_suptitle() == "ising: L = 8, sweeps = 200, thermalize = 20"
    pi = simcore.open_results(outputs["pi"])
    assert figure(pi).get_suptitle() == "pi: samples = 100000"
    from simcore.plot import reference_lines
    assert reference_lines(pi) == {"pi": (np.pi, "exact pi")}
    sweep = figure(simcore.open_results(outputs["sweep"]), names=["binder"])
    assert sweep.get_suptitle() == "ising sweep over L, T: sweeps = 100, thermalize = 10"
    (vertical,) = [line for line in sweep.axes[0].lines if line.get_label().startswith("Onsager Tc")]
    assert vertical.get_xdata()[0] == pytest.approx(2 / np.log(1 + np.sqrt(2)))


def test_results_of_one_sample_are_stated_not_drawn_as_a_lonely_dot(outputs):
    (energy, values) = figure(simcore.open_results(outputs["nbody"])).axes
    assert not values.axison and values.get_title() == "results (one sample each)"
    stated = values.texts[0].get_text().splitlines()
    assert [line.split(" = ")[0] for line in stated] == ["energy_error", "momentum_error", "angular_momentum_error"]
