export async function verifyCommand(argv: string[]): Promise<number> {
  const { runVerifyCommand } = await import('./verify-command.js');
  return runVerifyCommand(argv, process.stdout, process.stderr);
}
