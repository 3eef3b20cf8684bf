"""Watch registry, sampling plans, value cache and recorder joining symbols and targets."""
