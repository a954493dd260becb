"""Pictures of data and models: exploratory plots of a data folder (`eda`) and Grad-CAM (`gradcam`)."""
