"""Vi2CLR: joint self-supervised learning of a 3D ConvNet for video and a 2D ConvNet for images."""

__version__ = "0.1.0"
