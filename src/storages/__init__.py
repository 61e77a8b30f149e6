"""django-stowage: Django file storage backends for cloud object stores and file servers.

Importing this package never imports a cloud SDK; each backend imports its SDK when it is used.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
