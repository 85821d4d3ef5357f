"""What the commands share about the terminal: colour only on a terminal (and never with NO_COLOR),
and transformers kept quiet so a one-line error stays one line."""
import os


def use_color(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def quiet_transformers() -> None:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()  # "Loading weights" bars would bury the one-line messages
