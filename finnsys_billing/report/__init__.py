from . import finnsys_aged_receivable
from . import finnsys_aged_receivable_pdf
from . import finnsys_aged_receivable_xlsx
from . import finnsys_subscription_metrics
from . import finnsys_statement
from . import finnsys_statement_pdf
from . import finnsys_statement_xlsx
