"""The model registry: built-in models by name, user models by ``module:attr``.

A model reference is either a built-in name (``simcore models`` lists them) or
the import path of a model object, ``package.module:NAME``, so a researcher's
own model runs with the same engine, CLI and workers.
"""
from __future__ import annotations

import difflib
import importlib

from .base import BatchModel, LockstepModel, Model

#: Built-in models, in the order ``simcore models`` lists them.
BUILTIN = ("pi", "transport", "ising", "lj", "nbody")
#: Models made of other models, resolved by name too (``simcore sweep`` builds their parameters).
COMPOSITE = {"sweep": "simcore.sweep:SWEEP"}


class UnknownModelError(ValueError):
    """The model reference names no built-in model and no importable model object."""


#: Model objects given to a run (``simcore.run(MODEL)``) by name: how this process and its workers find them.
_OBJECTS: dict[str, Model] = {}


def register_object(model: Model) -> str:
    """Make the model object ``model`` findable by its name here and in the run's workers; return the name.

    A model defined in a script or a notebook cell cannot be imported by a
    worker: the process executor sends the registered objects by value
    (:func:`registered_objects`).  Registering the same name again replaces
    the object (a notebook cell run twice).
    """
    if model.name in BUILTIN or model.name in COMPOSITE or ":" in model.name:
        if get_model(model.name) is model:
            return model.name
        raise UnknownModelError(f"a model of your own needs a name of its own: {model.name!r} is taken by "
                                f"{'a built-in model' if ':' not in model.name else 'a module reference'}; "
                                "give it another with dataclasses.replace(model, name=...)")
    _OBJECTS[model.name] = model
    return model.name


def registered_objects() -> dict[str, Model]:
    """The model objects registered in this process, by name."""
    return dict(_OBJECTS)


def adopt_objects(objects: dict[str, Model]) -> None:
    """Register ``objects`` (a worker receiving its run's model objects)."""
    _OBJECTS.update(objects)


def user_reference(model: str, params: dict) -> str | None:
    """The ``module:attr`` of a user's model a run of ``model`` with ``params`` would import (a sweep's ``of``).

    None when only built-in models are involved.
    """
    swept = params.get("of") if model in COMPOSITE else None
    return next((ref for ref in (model, swept) if isinstance(ref, str) and ref not in BUILTIN
                 and ref not in COMPOSITE), None)


def get_model(reference: str) -> Model:
    """Return the model named ``reference`` (built-in name, ``module:attr``, or a registered object's name)."""
    if reference in _OBJECTS:
        return _OBJECTS[reference]
    reference = COMPOSITE.get(reference, reference)
    if ":" in reference:
        module_name, _, attribute = reference.partition(":")
        try:
            module = importlib.import_module(module_name)
            model = getattr(module, attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise UnknownModelError(f"cannot load model {reference!r}: {exc}") from None
        if not isinstance(model, (BatchModel, LockstepModel)):
            raise UnknownModelError(f"{reference!r} is not a simcore model (got {type(model).__name__})")
        return model
    if reference not in BUILTIN:
        close = difflib.get_close_matches(reference, BUILTIN, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UnknownModelError(
            f"unknown model {reference!r}{hint} available: {', '.join(BUILTIN)} (or module:attr of your own)"
        )
    return importlib.import_module(f"{__name__}.{reference}").MODEL


def builtin_models() -> list[Model]:
    """All built-in models."""
    return [get_model(name) for name in BUILTIN]


def warm_builtin_models() -> None:
    """Compile (or load from cache) every built-in kernel in this process."""
    for model in builtin_models():
        model.warm()
