"""ONVIF: discover cameras on a subnet and survey what they offer."""
