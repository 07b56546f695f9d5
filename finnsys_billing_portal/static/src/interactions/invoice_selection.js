import { registry } from "@web/core/registry";
import { Interaction } from "@web/public/interaction";

/**
 * Tick open invoices on the Open tab, or all of them at once, and pay the ticked ones.
 */
export class BillingInvoiceSelection extends Interaction {
    static selector = ".o_billing_invoice_list";
    static selectorHas = ".o_billing_pay_selected_form";
    dynamicContent = {
        ".o_billing_select_all": { "t-on-change": this.onSelectAll },
        ".o_billing_select": { "t-on-change": this.updateSelection },
    };

    start() {
        this.updateSelection();
    }

    onSelectAll(ev) {
        for (const box of this.el.querySelectorAll(".o_billing_select")) {
            box.checked = ev.currentTarget.checked;
        }
        this.updateSelection();
    }

    updateSelection() {
        const boxes = [...this.el.querySelectorAll(".o_billing_select")];
        const ticked = boxes.filter((box) => box.checked).length;
        const selectAll = this.el.querySelector(".o_billing_select_all");
        selectAll.checked = ticked > 0 && ticked === boxes.length;
        selectAll.indeterminate = ticked > 0 && ticked < boxes.length;
        this.el.querySelector(".o_billing_pay_selected").disabled = ticked === 0;
    }
}

registry
    .category("public.interactions")
    .add("finnsys_billing_portal.invoice_selection", BillingInvoiceSelection);
