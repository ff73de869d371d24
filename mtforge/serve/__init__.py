"""The translation service (``mtforge serve``)."""
