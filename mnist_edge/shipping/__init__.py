"""Shipping to a device: bundle, deploy, selftest and the shell files they ship (``files/``)."""
