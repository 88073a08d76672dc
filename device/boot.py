# Runs first on every reset. Kept tiny: the board and the application decide the rest.
# One job here: a deploy that a reset cut short after its commit is completed before anything
# of the application is imported, so the terminal runs the old application or the new one,
# never a mixture (app/deployed.py).
import sys

try:
    from app import deployed

    deployed.finish()
    del deployed
except ImportError:
    pass  # a firmware without the application: nothing deployed to finish
# The application imports afresh what it needs, from the files now in place.
sys.modules.pop("app.deployed", None)
sys.modules.pop("app", None)
