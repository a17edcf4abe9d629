"""Entry point of ``python -m nas_embedding_suite``."""
import sys

from .cli import main

sys.exit(main())
