"""Precision targets: extend a run until its results are as precise as asked (OpenMC's tally triggers).

``--until 'reflection.stderr<1e-4'`` (or ``NAME.relative_error<X``, the
standard error over ``|mean|``; repeatable, all must hold) runs the model,
then, while a target is missed, extends the run (``simcore resume --set``
of its ``extended_by`` parameter: bitwise the longer run from the start) to
the count the errors predict, as they fall like 1/sqrt(count):
``count * max (error / target)^2 * 1.1``.  A batch run grows by whole
factors (its partitions with it), a lockstep run by any amount.  It stops
when every target is met, or at ``until_max`` (default 100 times the first
count), and says which.

Each results file of the run records why it is what it is, in its root
attribute ``until`` (JSON): ``targets``, ``limit`` ({parameter: count}),
``rounds`` (each leg's count and the error of every target) and
``outcome``: ``met``, ``limit reached`` or ``extending to <count>`` (then
the next round follows at once).
"""
from __future__ import annotations

import contextvars
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .config import ConfigError
from .stats import Estimate

#: What a target can bound.
MEASURES = ("stderr", "relative_error")
#: Default limit: this many times the first round's count.
DEFAULT_LIMIT_FACTOR = 100
#: Margin on the predicted count, so that a round rarely ends just short.
MARGIN = 1.1
#: A round grows the count at least this much.
MIN_GROWTH = 1.25

_SYNTAX = re.compile(r"^\s*([A-Za-z_]\w*)\.(\w+)\s*<\s*(\S+)\s*$")


@dataclass(frozen=True)
class Target:
    """``result.measure < threshold``: a bound on the standard error (or relative error) of one result."""

    result: str
    measure: str
    threshold: float

    def error(self, estimate: Estimate) -> float:
        """The bounded quantity of ``estimate`` (its stderr, or stderr / |mean|)."""
        if self.measure == "stderr":
            return float(estimate.stderr)
        return float(estimate.stderr) / abs(estimate.mean) if estimate.mean else math.inf

    def __str__(self) -> str:
        return f"{self.result}.{self.measure}<{self.threshold:g}"


def parse_target(text: str, results: tuple[str, ...]) -> Target:
    """A target from ``NAME.stderr<X`` or ``NAME.relative_error<X``; ConfigError naming what is wrong."""
    match = _SYNTAX.match(text)
    if not match:
        raise ConfigError(f"until {text!r} is not a target: write RESULT.stderr<VALUE or RESULT.relative_error<VALUE "
                          f"(results: {', '.join(results)})")
    result, measure, bound = match.groups()
    if result not in results:
        raise ConfigError(f"until {text!r}: no result {result!r}; results: {', '.join(results)}")
    if measure not in MEASURES:
        raise ConfigError(f"until {text!r}: {measure!r} cannot be bounded; use one of: {', '.join(MEASURES)}")
    try:
        threshold = float(bound)
    except ValueError:
        threshold = math.nan
    if not threshold > 0 or not math.isfinite(threshold):
        raise ConfigError(f"until {text!r}: the bound must be a positive number (got {bound!r})")
    return Target(result, measure, threshold)


@dataclass(frozen=True)
class Until:
    """The targets of a run, its limit ({parameter: count}) and the rounds run so far."""

    targets: tuple[Target, ...]
    parameter: str
    limit: float
    whole_factors: bool  # a batch run: the count grows only k-fold
    rounds: tuple[dict, ...] = field(default=())

    def judge(self, count: float, estimates: Mapping[str, Estimate]) -> tuple[dict[str, Any], Any]:
        """(the ``until`` record of a run with ``count`` and these estimates, the count to extend it to or None)."""
        errors = {str(t): t.error(estimates[t.result]) for t in self.targets}
        rounds = [*self.rounds, {self.parameter: count, "errors": errors}]
        missed = [t for t in self.targets if not errors[str(t)] < t.threshold]
        grown = self.next_count(count, {str(t): errors[str(t)] / t.threshold for t in missed}) if missed else None
        outcome = "met" if not missed else f"extending to {grown}" if grown is not None else "limit reached"
        return {"targets": [str(t) for t in self.targets], "limit": {self.parameter: self.limit},
                "rounds": rounds, "outcome": outcome}, grown

    def next_count(self, count: float, ratios: Mapping[str, float]):
        """The count the missed targets' ``error / bound`` ratios predict (capped at the limit); None at the limit."""
        worst = max(ratios.values())
        factor = max(MIN_GROWTH, worst * worst * MARGIN) if math.isfinite(worst) else MIN_GROWTH
        if self.whole_factors:
            k = min(math.ceil(factor), int(self.limit // count))
            return int(k * count) if k >= 2 else None
        if count >= self.limit:
            return None
        grown = min(count * factor, self.limit)
        return math.ceil(grown) if isinstance(count, int) else grown


_IN_FORCE: contextvars.ContextVar[Until | None] = contextvars.ContextVar("simcore_until", default=None)


@contextmanager
def targets_in_force(until: Until | None):
    """Within: the results written record ``until`` (:func:`in_force`)."""
    token = _IN_FORCE.set(until)
    try:
        yield
    finally:
        _IN_FORCE.reset(token)


def in_force() -> Until | None:
    """The targets of the run being written, if it has any."""
    return _IN_FORCE.get()


def plan_until(model, cfg, texts: str | Sequence[str], limit: Any = None) -> Until | None:
    """The :class:`Until` of a run of ``model`` with ``cfg`` for targets ``texts``, one or several (None without any).

    ConfigError, naming the option, if the model has no count to extend, the
    run writes no checkpoints (each round continues from the final one), or
    ``limit`` (``until_max``, in the unit of that count) is not above it.
    """
    from .models.base import BatchModel

    if not texts:
        return None
    texts = (texts,) if isinstance(texts, str) else tuple(texts)
    parameter = getattr(model, "extended_by", "")
    if not parameter:
        raise ConfigError(f"until: {cfg.model} cannot be extended (it declares no count to raise); "
                          "run it with the count the precision needs")
    if cfg.checkpoint_every <= 0:
        raise ConfigError("until needs checkpoints (checkpoint_every > 0): each round continues from the final one")
    results = tuple(r.name for r in model.results)
    targets = tuple(parse_target(text, results) for text in texts)
    count = cfg.params[parameter]
    kind = type(count)
    if limit is None:
        limit = DEFAULT_LIMIT_FACTOR * count
    try:
        limit = kind(float(limit))
    except (TypeError, ValueError):
        raise ConfigError(f"until_max must be a number of {parameter} (got {limit!r})") from None
    if not limit > count:
        raise ConfigError(f"until_max must be above the run's {parameter} = {count} (got {limit})")
    return Until(targets, parameter, limit, isinstance(model, BatchModel))
