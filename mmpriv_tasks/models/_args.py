"""Parsing of lm-eval ``--model_args`` shared by the model wrappers.

lm-eval builds a model with ``cls(**model_args, batch_size=..., max_batch_size=..., device=...)``
(its own ``--batch_size`` / ``--device`` options, passed even when left at their defaults). A key
given in both places would reach the constructor twice; :class:`MergedArgs` merges them instead,
and **``--model_args`` wins** (it is the more specific, and lm-eval passes its options even when
the user never set them). Secrets are refused before anything is built (:func:`refuse_secrets`), and so
are keys the model does not take, with the closest one (:func:`refuse_unknown`).
"""
from __future__ import annotations

import difflib
import inspect
import re
from typing import Any

from mmpriv_tasks.errors import InputError

# argument names that carry a secret themselves (``api_key_env`` names a variable: allowed)
_SECRET_NAME = re.compile(r"(^|[_\-.])(api_?key|keys?|token|secrets?|password|passwd|pwd|passphrase|bearer|"
                          r"authorization|auth|credentials?|cookie)([_\-.]|$)", re.IGNORECASE)
# a URL carrying a user name or password (``http://user:pass@host``)
_URL_USERINFO = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/?#@]*@", re.IGNORECASE)
# values shaped like a credential whatever their argument name
_SECRET_VALUE = re.compile(r"^(sk-|sk_|hf_|ghp_|gho_|github_pat_|xox[abp]-|AKIA|AIza|eyJ)[A-Za-z0-9_\-.]{8,}$")


class SecretArgumentError(InputError):
    """A key or token was passed on the command line; the message never contains the value."""


def as_bool(value: Any) -> bool:
    """``true/1/yes/on`` (any case) or a real bool -> bool."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def refuse_secrets(model_args: dict) -> None:
    """Raise :class:`SecretArgumentError` when an argument looks like a key or token (by name or by
    value). The message names the argument, never its value, and points to ``api_key_env=``."""
    for name, value in model_args.items():
        if name == "api_key_env":
            continue
        if isinstance(value, dict):  # JSON form: nested arguments
            refuse_secrets(value)
            continue
        if _URL_USERINFO.match(str(value).strip()):
            raise SecretArgumentError(
                f"--model_args '{name}=...' is a URL with a user name or password in it: credentials are never "
                f"taken from the command line. Pass the URL without them and the key's variable: api_key_env=NAME")
        if _SECRET_NAME.search(str(name)) or _SECRET_VALUE.match(str(value).strip()):
            raise SecretArgumentError(
                f"--model_args '{name}=...' looks like a key or token: secrets are never taken from the command "
                f"line (they would be logged and written to the results). Put it in an environment variable and "
                f"pass its name: api_key_env=MY_KEY_VARIABLE")


def parse_model_args(model_args: str | dict | None) -> dict:
    """``--model_args`` as a dict (lm-eval's ``key=value,key=value`` string, its JSON form, or a dict)."""
    if isinstance(model_args, dict):
        return dict(model_args)
    if isinstance(model_args, str) and model_args.strip().startswith("{"):
        import json

        try:
            parsed = json.loads(model_args)
        except json.JSONDecodeError as exc:
            raise InputError(f"--model_args: not valid JSON ({exc.msg} at character {exc.pos})") from None
        if isinstance(parsed, dict):
            return parsed
    from lm_eval.utils import simple_parse_args_string

    return simple_parse_args_string(model_args or "")


class UnknownArgumentError(InputError):
    """A ``--model_args`` key the model does not take (a typo would otherwise be ignored silently),
    or a required one missing."""


# keys every model takes: lm-eval's own options (--batch_size, --device, --trust_remote_code) and presets
COMMON_KEYS = ("batch_size", "max_batch_size", "device", "trust_remote_code", "preset")


def _parameters(cls) -> list:
    """The named ``__init__`` parameters along ``cls``'s :class:`MergedArgs` ancestry (a subclass
    passes ``**kwargs`` on to its base)."""
    found = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None and issubclass(klass, MergedArgs):
            found += [parameter for name, parameter in inspect.signature(init).parameters.items()
                      if name != "self" and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)]
    return found


def accepted_keys(cls) -> set[str]:
    """The ``--model_args`` keys ``cls`` takes: its ``__init__`` parameters plus :data:`COMMON_KEYS`."""
    return set(COMMON_KEYS) | {parameter.name for parameter in _parameters(cls)}


def refuse_unknown(cls, model_args: dict) -> None:
    """Raise :class:`UnknownArgumentError` naming the first unknown key, a close match and the keys;
    or the first required key missing (no default, or listed in the class's ``REQUIRED_ARGS``)."""
    keys, model = accepted_keys(cls), getattr(cls, "name", cls.__name__)
    for name in model_args:
        if name not in keys:
            close = difflib.get_close_matches(str(name), sorted(keys), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise UnknownArgumentError(
                f"--model_args '{name}' is not an argument of {model}: {hint}it takes {', '.join(sorted(keys))}")
    required = [p.name for p in _parameters(cls) if p.default is p.empty] + list(getattr(cls, "REQUIRED_ARGS", ()))
    for name in required:
        if model_args.get(name) in (None, ""):
            raise UnknownArgumentError(f"{model} needs --model_args {name}=...: add it, e.g. "
                                       f"--model_args {getattr(cls, 'EXAMPLE_ARGS', name + '=VALUE')}")


class MergedArgs:
    """Mixin for lm-eval models: ``--model_args`` and lm-eval's own options are merged, not passed
    twice (``--model_args`` wins); secret-looking and unknown arguments are refused."""

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None):
        return cls.create_from_arg_obj(parse_model_args(arg_string), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None):
        args = dict(arg_dict)
        refuse_secrets(args)
        refuse_unknown(cls, args)
        lm_eval_options = {k: v for k, v in (additional_config or {}).items() if v is not None}
        return cls(**{**lm_eval_options, **args})
