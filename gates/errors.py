"""Errors for bad input: each carries one line a user can act on."""


class BadInputError(ValueError):
    """The user's input (policy, model, version, data) cannot be used; nothing was changed."""


class PolicyError(BadInputError):
    """The policy file is missing or invalid."""


class LockTimeout(RuntimeError):
    """Another promotion of the same model held the model's lock for longer than the policy allows."""
