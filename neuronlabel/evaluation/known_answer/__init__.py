"""The known-answer benchmark: label real units whose answer is known and score the labels (issue 10)."""
