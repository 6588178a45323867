"""The ground floor: errors, paths and calendar helpers; imports nothing of the project."""
