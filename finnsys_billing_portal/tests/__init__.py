from . import test_portal_home
from . import test_login_code
from . import test_portal_invite
