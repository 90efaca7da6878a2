"""Staff pages: review queue, attempt detail with timeline, decisions, allowances, resets."""
