"""The ``/v1`` resources, one blueprint per module."""
