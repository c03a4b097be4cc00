"""Reading one option out of a raw ``lm-eval run`` command line (``--name VALUE`` or ``--name=VALUE``)."""
from __future__ import annotations


def split_option(argv: list[str], name: str) -> tuple[list[str], str | None]:
    """``argv`` without the option ``name``, and its value (the last one given), or None.

    >>> split_option(["--tasks", "a", "--output_path", "out/", "--limit=2"], "--output_path")
    (['--tasks', 'a', '--limit=2'], 'out/')
    >>> split_option(["--model_args=x=1"], "--model_args")
    ([], 'x=1')
    """
    rest, value, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == name and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
            continue
        if arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return rest, value
