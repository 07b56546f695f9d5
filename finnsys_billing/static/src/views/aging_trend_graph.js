import { lightenColor } from "@web/core/colors/colors";
import { registry } from "@web/core/registry";
import { graphView } from "@web/views/graph/graph_view";
import { GraphRenderer } from "@web/views/graph/graph_renderer";

const NOT_DUE = "#43A047";
const AGED = ["#FDD835", "#FFB300", "#FB8C00", "#F4511E", "#D32F2F", "#B71C1C", "#880E4F"];
const CREDIT = "#90A4AE";

/**
 * The colour of each bucket of the Receivables Trend: not due green, then from yellow to dark
 * red as the buckets age, unapplied credit grey. The series come in the buckets' order (the
 * server sorts them), first "Not due", last "Unapplied credit"; Odoo's palette would give
 * them colours by rank, red included, whatever they mean.
 */
export function bucketColors(count) {
    if (count < 2) {
        return [NOT_DUE].slice(0, count);
    }
    const aged = count - 2;
    const ramp = Array.from({ length: aged }, (_, index) =>
        AGED[aged > 1 ? Math.round((index * (AGED.length - 1)) / (aged - 1)) : 0]
    );
    return [NOT_DUE, ...ramp, CREDIT];
}

export class AgingTrendGraphRenderer extends GraphRenderer {
    /** True when the series are the buckets: another grouping keeps Odoo's colours. */
    get byBucket() {
        const groupBy = this.model.metaData.groupBy;
        return groupBy.length > 1 && groupBy[1].fieldName === "bucket_name";
    }

    getBarChartData() {
        const data = super.getBarChartData();
        if (this.byBucket) {
            const colors = bucketColors(this.model.data.datasets.length);
            this.model.data.datasets.forEach((dataset, index) => {
                dataset.backgroundColor = colors[index];
            });
        }
        return data;
    }

    getLineChartData() {
        const data = super.getLineChartData();
        if (this.byBucket) {
            const colors = bucketColors(data.datasets.length);
            data.datasets.forEach((dataset, index) => {
                Object.assign(dataset, {
                    borderColor: colors[index],
                    hoverBackgroundColor: colors[index],
                    pointBackgroundColor: colors[index],
                    backgroundColor: lightenColor(colors[index], 0.5),
                });
            });
        }
        return data;
    }
}

registry.category("views").add("finnsys_aging_trend_graph", {
    ...graphView,
    Renderer: AgingTrendGraphRenderer,
});
