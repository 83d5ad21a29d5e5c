"""``python -m saliency_cli``: the same app as the ``saliency-cli`` console script."""

from saliency_cli.cli import main

if __name__ == "__main__":
    main()
