"""Every start builds the settings' and the policy's pydantic models: keep their construction cheap (issue 26).

pydantic asks `inspect.signature()` of each `default_factory` whether it takes the validated data. For a builtin
(`list`, `dict`) that means parsing its text signature with `tokenize`, whose first use compiles a large regular
expression, and for a model class building its signature: ~20 ms of every command's start for nine fields. A
plain default does the same job (pydantic copies a mutable one for each instance; a frozen model may be shared),
and a factory that must run, a Python function, is cheap to inspect.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

from pydantic import BaseModel

import bot


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for info in pkgutil.walk_packages(bot.__path__, "bot."):
        if info.name.startswith(("bot.settings", "bot.domain")):
            module = importlib.import_module(info.name)
            found += [
                obj
                for obj in vars(module).values()
                if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == info.name
            ]
    return found


def test_no_model_field_takes_a_builtin_or_a_class_as_its_default_factory() -> None:
    models = _models()
    assert len(models) > 10  # the settings, the policy file, the registries
    offenders = [
        f"{model.__module__}.{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if field.default_factory is not None and not isinstance(field.default_factory, types.FunctionType)
    ]
    assert offenders == []
