"""Every way an image is read and prepared for a network: the recipes that turn a user's picture into a dataset's input."""
