"""maskfast: fastai defaults for the 18-class face-mask / gender / age competition."""
__version__ = '0.1.0'
