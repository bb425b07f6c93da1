"""``python -m handler.cli``: the same as the ``reghook`` console script."""

from handler.cli import main

if __name__ == "__main__":
    main(prog_name="reghook")
