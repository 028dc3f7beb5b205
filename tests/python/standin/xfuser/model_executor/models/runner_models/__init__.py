"""STAND-IN runner_models: like the real package __init__, importing it imports
every model module, whose @register_model decorators fill MODEL_REGISTRY."""

import importlib
import pkgutil

for _importer, _modname, _ispkg in pkgutil.iter_modules(__path__):
    if _modname != "base_model":
        importlib.import_module(f".{_modname}", package=__name__)
