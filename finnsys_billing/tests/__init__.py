from . import test_billing_menu_access
from . import test_billing_mode
