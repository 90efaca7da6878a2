"""SQL built from model metadata for the few hot writes the ORM would split into many round trips."""
