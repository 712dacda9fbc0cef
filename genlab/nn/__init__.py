"""Pieces shared between families (layers, losses, optimiser settings, shape checks): never copied into a family file."""
