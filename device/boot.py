# Runs first on every reset. Kept tiny: the board and the application decide the rest.
