"""Small networks, differentiable augmentation and torch losses shared by the methods."""
