/** hostkit/host: what this host allows (doctor) and what its kernel crossings cost (measure). */
export { doctor, formatDoctor, type DoctorReport, type Finding, type State } from './doctor';
export { measure, formatMeasure, benchmarkIds, type MeasureOptions, type MeasureReport, type Measurement, type Crossover } from './measure';
