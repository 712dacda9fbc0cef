"""Layers and losses shared between families (never copied into a family file)."""
