"""python -m pbundle_backend module|file TARGET [ARGS...]: the host's bootstrap for an app's entry point."""

import os
import sys

from pbundle_backend import _bootstrap, _stop_group

if __name__ == "__main__":
    try:
        status = _bootstrap(sys.argv[1:])
    except SystemExit as exit_:
        if isinstance(exit_.code, int) or exit_.code is None:
            status = exit_.code or 0
        else:
            sys.stderr.write(f"{exit_.code}\n")
            status = 1
    except BaseException:  # noqa: BLE001 - report and exit with a status the host shows
        import traceback

        traceback.print_exc()
        status = 1
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    _stop_group()
    os._exit(status)
