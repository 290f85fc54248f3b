"""The operations layer: every operation a user can perform, one module per subject.

Faces (the `veille` command, the web page, the JSON API, the Slack command) parse what the user sent, call
one function here and render the result; they hold no SQL. Functions take a database handle (a
:class:`veille.storage.db.Database` or a :class:`veille.pipeline.Context`) and validated inputs, and return
frozen values. Errors are those of :mod:`veille.manage.errors`; their messages are what the user reads.
"""

from veille.manage.errors import ConflictError, InvalidError, NotFoundError, OperationError

__all__ = ["ConflictError", "InvalidError", "NotFoundError", "OperationError"]
