"""Policy rules as pure functions over a small resource view, so they test without the Pulumi CLI.

Every rule returns a list of violation messages; each message names the resource and the fix.
``policies/pack.py`` wraps them into CrossGuard policies; ``policies/__main__.py`` serves the pack.
"""
