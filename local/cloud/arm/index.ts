export { ArmEmulator, type ArmEmulatorOptions, type ArmSnapshot, type ArmStats } from './emulator';
export { TABLE_SUFFIXES } from './store';
export { DURATION_SECONDS, DEFAULT_DURATION_SECONDS } from './resources';
export { TemplateError, TEMPLATE_FUNCTIONS, planDeployment } from './template';
