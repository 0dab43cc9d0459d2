"""Privacy masks per camera: areas never shown live or kept in the clear in pictures the system renders."""
