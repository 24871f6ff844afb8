"""The EVS job API client, and its configuration read from the environment."""
