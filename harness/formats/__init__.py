"""Recording formats the harness sends and checks (one subpackage per format); ``registry`` names them."""
