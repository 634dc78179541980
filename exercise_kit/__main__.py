"""``python -m exercise_kit``: the kit's command line (``cli``)."""

from .cli import main

if __name__ == "__main__":
    main()
