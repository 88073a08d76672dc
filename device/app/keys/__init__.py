"""Key slots (TMK per application, sign-on working keys), field 62 layouts, identity."""
