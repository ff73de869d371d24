"""Modular many-to-many training: task plans, data, the distributed trainer and its launcher."""
